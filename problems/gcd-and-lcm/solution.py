import sys
from math import gcd


def main():
    out = []
    for line in sys.stdin:
        if not line.strip():
            continue
        a, b = map(int, line.split())
        g = gcd(a, b)
        out.append(f"{g} {a // g * b}\n")
    sys.stdout.write("".join(out))


main()
