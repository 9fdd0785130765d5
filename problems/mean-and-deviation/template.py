import sys


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    readings = [float(x) for x in data[1:1 + n]]
    # your code here


main()
