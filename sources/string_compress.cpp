#include <string>
#include <iostream>

std::string compress(const std::string& text) {
    std::string result;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t run = 1;
        while (i + run < text.size() && text[i + run] == text[i]) {
            ++run;
        }
        result += text[i];
        result += std::to_string(run);
        i += run;
    }
    return result;
}

int main() {
    const std::string inputs[] = {"aaabccdddd", "abc", "zzzzzzzzzzzz"};
    for (const std::string& s : inputs) {
        std::cout << s << " -> " << compress(s) << std::endl;
    }
    return 0;
}
