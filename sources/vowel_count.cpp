#include <iostream>
#include <string>

bool isVowel(char c) {
    switch (c) {
    case 'a': case 'e': case 'i': case 'o': case 'u':
    case 'A': case 'E': case 'I': case 'O': case 'U':
        return true;
    default:
        return false;
    }
}

int main() {
    std::string sentence = "Programming in Assembly is fun";
    int vowels = 0;
    int consonants = 0;
    int spaces = 0;
    for (char c : sentence) {
        if (c == ' ') {
            ++spaces;
        } else if (isVowel(c)) {
            ++vowels;
        } else {
            ++consonants;
        }
    }
    std::cout << "Sentence: " << sentence << std::endl;
    std::cout << "Vowels: " << vowels << std::endl;
    std::cout << "Consonants: " << consonants << std::endl;
    std::cout << "Spaces: " << spaces << std::endl;
    return 0;
}
