# Pops without checking that the stack is non-empty: a line starting with
# a closer raises IndexError.
import sys

PAIRS = {")": "(", "]": "[", "}": "{"}


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for s in data[1:1 + t]:
        stack = []
        ok = True
        for ch in s:
            if ch in PAIRS:
                if stack.pop() != PAIRS[ch]:
                    ok = False
                    break
            else:
                stack.append(ch)
        print("YES" if ok and not stack else "NO")


main()
