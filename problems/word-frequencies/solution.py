import sys
from collections import Counter


def main():
    counts = Counter(sys.stdin.read().lower().split())
    sys.stdout.write("".join(f"{w} {c}\n" for w, c in counts.items()))


main()
