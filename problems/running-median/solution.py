import sys
from heapq import heappop, heappush, heappushpop


def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    low = []   # max-heap of the lower half, values negated
    high = []  # min-heap of the upper half
    out = []
    for x in map(int, data[1:1 + n]):
        # Route x through the lower half so every low value <= every high value.
        if low and x < -low[0]:
            x = -heappushpop(low, -x)
        heappush(high, x)
        # Keep len(low) <= len(high) <= len(low) + 1.
        if len(high) > len(low) + 1:
            heappush(low, -heappop(high))
        if len(high) > len(low):
            out.append(f"{high[0]}\n")
        else:
            s = high[0] - low[0]
            out.append(f"{s // 2}\n" if s % 2 == 0 else f"{s / 2}\n")
    sys.stdout.write("".join(out))


main()
