# Forgets to check that the stack is empty at the end: "((" is accepted.
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
                if not stack or stack.pop() != PAIRS[ch]:
                    ok = False
                    break
            else:
                stack.append(ch)
        print("YES" if ok else "NO")


main()
