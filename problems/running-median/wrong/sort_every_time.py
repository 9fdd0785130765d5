# Correct, but re-sorts all readings seen so far after each one:
# O(n^2 log n) in total.
import sys


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    seen = []
    for x in map(int, data[1:1 + n]):
        seen.append(x)
        s = sorted(seen)
        k = len(s)
        if k % 2:
            print(s[k // 2])
        else:
            print((s[k // 2 - 1] + s[k // 2]) / 2)


main()
