# reduce() without a start value raises TypeError on an empty day.
import sys
from functools import reduce
from operator import add


def main():
    n = int(sys.stdin.readline())
    nums = list(map(int, sys.stdin.readline().split()))
    print(reduce(add, nums))


main()
