#include <string>
#include <vector>
#include <iostream>

std::vector<std::string> split(const std::string& text, char delimiter) {
    std::vector<std::string> parts;
    std::string current;
    for (char c : text) {
        if (c == delimiter) {
            parts.push_back(current);
            current.clear();
        } else {
            current += c;
        }
    }
    parts.push_back(current);
    return parts;
}

int main() {
    std::vector<std::string> fruits = split("apple,banana,cherry,date", ',');
    std::cout << "Found " << fruits.size() << " items" << std::endl;
    for (std::size_t i = 0; i < fruits.size(); ++i) {
        std::cout << i + 1 << ": " << fruits[i] << std::endl;
    }
    return 0;
}
