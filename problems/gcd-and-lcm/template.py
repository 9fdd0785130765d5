import sys


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        a, b = map(int, line.split())
        # your code here


main()
