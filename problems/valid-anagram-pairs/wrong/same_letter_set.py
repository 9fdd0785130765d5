# Compares which letters occur, not how many times: "aab" and "abb" pass.
def is_anagram(s, t):
    return set(s) == set(t)
