# Deletes adjacent pairs "()", "[]", "{}" until nothing changes. Correct, but
# a deeply nested line needs one pass per nesting level: O(n^2).
import sys


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for s in data[1:1 + t]:
        while True:
            shorter = s.replace("()", "").replace("[]", "").replace("{}", "")
            if shorter == s:
                break
            s = shorter
        print("YES" if not s else "NO")


main()
