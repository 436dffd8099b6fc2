#include <iostream>
#include <string>

int main() {
    std::string text = "the quick brown fox jumps over the lazy dog";
    int words = 0;
    std::size_t longestLength = 0;
    std::string longest;
    std::string current;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == ' ') {
            if (!current.empty()) {
                ++words;
                if (current.size() > longestLength) {
                    longestLength = current.size();
                    longest = current;
                }
                current.clear();
            }
        } else {
            current += text[i];
        }
    }
    std::cout << "Words: " << words << std::endl;
    std::cout << "Characters: " << text.size() << std::endl;
    std::cout << "Longest word: " << longest << " (" << longestLength << " letters)" << std::endl;
    return 0;
}
