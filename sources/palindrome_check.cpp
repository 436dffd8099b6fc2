#include <iostream>
#include <string>

bool isPalindrome(const std::string& word) {
    if (word.empty()) {
        return true;
    }
    std::size_t left = 0;
    std::size_t right = word.size() - 1;
    while (left < right) {
        if (word[left] != word[right]) {
            return false;
        }
        ++left;
        --right;
    }
    return true;
}

int main() {
    const std::string words[] = {"racecar", "level", "hello", "noon", "world"};
    for (const std::string& w : words) {
        std::cout << w << (isPalindrome(w) ? " is a palindrome" : " is not a palindrome")
                  << std::endl;
    }
    return 0;
}
