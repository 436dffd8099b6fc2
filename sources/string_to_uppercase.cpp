#include <iostream>
#include <string>

std::string toUpper(std::string text) {
    for (char& c : text) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return text;
}

std::string capitalizeWords(std::string text) {
    bool startOfWord = true;
    for (char& c : text) {
        if (c == ' ') {
            startOfWord = true;
        } else {
            if (startOfWord && c >= 'a' && c <= 'z') {
                c = static_cast<char>(c - 'a' + 'A');
            }
            startOfWord = false;
        }
    }
    return text;
}

int main() {
    std::string text = "hello from the assembler world";
    std::cout << toUpper(text) << std::endl;
    std::cout << capitalizeWords(text) << std::endl;
    return 0;
}
