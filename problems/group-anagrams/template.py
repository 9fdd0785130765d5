def group_anagrams(words):
    pass
