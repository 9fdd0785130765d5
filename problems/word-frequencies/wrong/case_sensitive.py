# Forgets to lowercase: "The" and "the" are counted as different words.
import sys
from collections import Counter


def main():
    counts = Counter(sys.stdin.read().split())
    for w, c in counts.items():
        print(w, c)


main()
