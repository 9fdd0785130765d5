# Greedy: always takes the largest token that still fits. Wrong whenever a
# big token forces many small ones (tokens 1, 3, 4 and amount 6), and it may
# give up although another combination works.
def fewest_coins(coins, amount):
    count = 0
    for c in sorted(coins, reverse=True):
        count += amount // c
        amount %= c
    return count if amount == 0 else -1
