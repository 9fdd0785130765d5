# Forgets the absolute value: clockwise triangles get a negative area.
import sys


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for i in range(t):
        x1, y1, x2, y2, x3, y3 = map(int, data[1 + 6 * i:7 + 6 * i])
        print(((x2 - x1) * (y3 - y1) - (x3 - x1) * (y2 - y1)) / 2)


main()
