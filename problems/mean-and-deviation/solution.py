import math
import sys
from decimal import Decimal


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    # Readings have at most 3 decimals: scale them to exact integers.
    ys = [int(Decimal(x).scaleb(3)) for x in data[1:1 + n]]
    s1 = sum(ys)
    s2 = sum(y * y for y in ys)
    # n^2 * 10^6 * variance = n * s2 - s1^2, computed exactly.
    mean = s1 / (n * 1000)
    dev = math.sqrt(n * s2 - s1 * s1) / (n * 1000)
    print(f"{mean:.9f} {dev:.9f}")


main()
