# Uses true division for the lcm: a * b / g is a float, which has only
# about 16 significant digits.
import sys
from math import gcd


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        a, b = map(int, line.split())
        g = gcd(a, b)
        print(g, int(a * b / g))


main()
