import sys


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for i in range(t):
        x1, y1, x2, y2, x3, y3 = map(int, data[1 + 6 * i:7 + 6 * i])
        # your code here


main()
