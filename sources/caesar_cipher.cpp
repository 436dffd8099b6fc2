#include <iostream>
#include <string>

std::string shiftLetters(const std::string& text, int shift) {
    std::string result = text;
    for (std::size_t i = 0; i < result.size(); ++i) {
        char c = result[i];
        if (c >= 'A' && c <= 'Z') {
            result[i] = static_cast<char>('A' + (c - 'A' + shift) % 26);
        } else if (c >= 'a' && c <= 'z') {
            result[i] = static_cast<char>('a' + (c - 'a' + shift) % 26);
        }
    }
    return result;
}

int main() {
    std::string message = "Hello World";
    std::string encrypted = shiftLetters(message, 3);
    std::string decrypted = shiftLetters(encrypted, 26 - 3);
    std::cout << "Plain:     " << message << std::endl;
    std::cout << "Encrypted: " << encrypted << std::endl;
    std::cout << "Decrypted: " << decrypted << std::endl;
    return 0;
}
