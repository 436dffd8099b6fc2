#include <map>
#include <iostream>
#include <string>

int main() {
    std::string text = "the cat and the dog and the bird";
    std::map<std::string, int> counts;
    std::string word;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == ' ') {
            if (!word.empty()) {
                ++counts[word];
                word.clear();
            }
        } else {
            word += text[i];
        }
    }
    for (const auto& entry : counts) {
        std::cout << entry.first << ": " << entry.second << std::endl;
    }
    std::cout << "Distinct words: " << counts.size() << std::endl;
    return 0;
}
