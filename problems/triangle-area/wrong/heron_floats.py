# Heron's formula in floating point: fine for "fat" triangles, but for long
# thin ones the differences s - a, s - b, s - c lose almost all their digits.
import math
import sys


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for i in range(t):
        x1, y1, x2, y2, x3, y3 = map(int, data[1 + 6 * i:7 + 6 * i])
        a = math.dist((x1, y1), (x2, y2))
        b = math.dist((x2, y2), (x3, y3))
        c = math.dist((x3, y3), (x1, y1))
        s = (a + b + c) / 2
        print(math.sqrt(max(0.0, s * (s - a) * (s - b) * (s - c))))


main()
