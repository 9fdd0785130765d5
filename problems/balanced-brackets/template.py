import sys


def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    for s in data[1:1 + t]:
        # your code here: print YES or NO
        pass


main()
