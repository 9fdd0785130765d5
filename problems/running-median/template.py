import sys


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    readings = [int(v) for v in data[1:1 + n]]
    # your code here: print one median per reading


main()
