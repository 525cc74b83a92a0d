# For each of N numbers, print YES if it appeared earlier in the input, else NO.
n = int(input())
numbers = list(map(int, input().split()))
seen = []
for x in numbers:
    if x in seen:
        print("YES")
    else:
        print("NO")
        seen.append(x)
