# The subtraction form of Euclid: correct, but gcd(10^18, 1) takes 10^18 steps.
import sys


def gcd(a, b):
    while a != b:
        if a > b:
            a -= b
        else:
            b -= a
    return a


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        a, b = map(int, line.split())
        g = gcd(a, b)
        print(g, a * b // g)


main()
