import sys


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    # your code here


main()
