#include <iostream>
#include <string>

std::string toRoman(int number) {
    const int values[] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
    const char* symbols[] = {"M", "CM", "D", "CD", "C", "XC", "L", "XL", "X", "IX", "V", "IV", "I"};
    std::string result;
    for (int i = 0; i < 13; ++i) {
        while (number >= values[i]) {
            result += symbols[i];
            number -= values[i];
        }
    }
    return result;
}

int main() {
    const int numbers[] = {4, 9, 14, 58, 1994, 2024, 3999};
    for (int n : numbers) {
        std::cout << n << " = " << toRoman(n) << std::endl;
    }
    return 0;
}
