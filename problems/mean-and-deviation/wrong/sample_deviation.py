# Uses the sample deviation (divides by n - 1) instead of the population one.
import math
import sys


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    xs = [float(x) for x in data[1:1 + n]]
    mean = sum(xs) / n
    if n == 1:
        print(mean, 0.0)
        return
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    print(mean, math.sqrt(var))


main()
