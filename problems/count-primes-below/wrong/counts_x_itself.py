# Off-by-one: counts primes <= x, so a prime x is counted too.
import sys
from math import isqrt


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    queries = [int(v) for v in data[1:1 + t]]
    limit = max(queries)
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = bytes(min(2, limit + 1))
    for i in range(2, isqrt(limit) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, limit + 1, i)))
    prefix = [0] * (limit + 1)
    running = 0
    for i in range(limit + 1):
        running += sieve[i]
        prefix[i] = running
    print("\n".join(str(prefix[x]) for x in queries))


main()
