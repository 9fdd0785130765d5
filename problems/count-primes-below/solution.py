import sys
from bisect import bisect_left
from itertools import compress
from math import isqrt


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    queries = [int(v) for v in data[1:1 + t]]
    limit = max(queries, default=0)
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = bytes(min(2, limit + 1))
    for i in range(2, isqrt(limit) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, limit + 1, i)))
    primes = list(compress(range(limit + 1), sieve))
    sys.stdout.write("".join(f"{bisect_left(primes, x)}\n" for x in queries))


main()
