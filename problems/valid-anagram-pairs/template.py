def is_anagram(s, t):
    pass
