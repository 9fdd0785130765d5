# Splits on single spaces only: newlines and tabs stick to words, and runs
# of spaces produce empty "words".
import sys
from collections import Counter


def main():
    counts = Counter(sys.stdin.read().lower().split(" "))
    for w, c in counts.items():
        print(w, c)


main()
