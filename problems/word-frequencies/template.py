import sys


def main():
    text = sys.stdin.read()
    # your code here


main()
