# For an even count it reports the upper of the two middle values instead
# of their average.
import sys
from heapq import heappop, heappush, heappushpop


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    low, high = [], []
    for x in map(int, data[1:1 + n]):
        if low and x < -low[0]:
            x = -heappushpop(low, -x)
        heappush(high, x)
        if len(high) > len(low) + 1:
            heappush(low, -heappop(high))
        print(high[0])


main()
