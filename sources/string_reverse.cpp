#include <string>
#include <iostream>

std::string reverseString(const std::string& text) {
    std::string result;
    for (std::size_t i = text.size(); i > 0; --i) {
        result += text[i - 1];
    }
    return result;
}

int main() {
    std::string word = "assembly";
    std::string reversed = reverseString(word);
    std::cout << "Original: " << word << std::endl;
    std::cout << "Length: " << word.size() << std::endl;
    std::cout << "Reversed: " << reversed << std::endl;
    return 0;
}
