# Correct but far too slow: every question re-tests every number below x
# by trial division.
import sys


def is_prime(m):
    if m < 2:
        return False
    d = 2
    while d * d <= m:
        if m % d == 0:
            return False
        d += 1
    return True


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for x in map(int, data[1:1 + t]):
        print(sum(1 for m in range(x) if is_prime(m)))


main()
