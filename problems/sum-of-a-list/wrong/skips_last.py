# Off-by-one: the loop stops one entry early.
import sys


def main():
    n = int(sys.stdin.readline())
    nums = list(map(int, sys.stdin.readline().split()))
    total = 0
    for i in range(n - 1):
        total += nums[i]
    print(total)


main()
