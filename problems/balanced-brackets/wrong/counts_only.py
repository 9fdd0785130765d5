# Only compares how many openers and closers of each kind there are;
# ignores the order, so "([)]" and ")(" are accepted.
import sys


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for s in data[1:1 + t]:
        ok = all(s.count(o) == s.count(c) for o, c in ("()", "[]", "{}"))
        print("YES" if ok else "NO")


main()
