import sys


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    queries = [int(v) for v in data[1:1 + t]]
    # your code here


main()
