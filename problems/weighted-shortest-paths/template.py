import sys


def main():
    data = sys.stdin.read().split()
    n, m, s = int(data[0]), int(data[1]), int(data[2])
    # roads: u = data[3 + 3*i], v = data[4 + 3*i], w = data[5 + 3*i]
    # print one line per junction 1..n: the shortest time, or INF


main()
