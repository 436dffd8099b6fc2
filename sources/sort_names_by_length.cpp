#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

int main() {
    std::vector<std::string> names = {"Charlie", "Bob", "Alice", "Eve", "Dave"};
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        if (a.size() != b.size()) {
            return a.size() < b.size();
        }
        return a < b;
    });
    std::cout << "Sorted:";
    for (const std::string& name : names) {
        std::cout << " " << name;
    }
    std::cout << std::endl;
    long longNames = std::count_if(names.begin(), names.end(),
                                   [](const std::string& s) { return s.size() > 3; });
    std::cout << "Names longer than 3 letters: " << longNames << std::endl;
    return 0;
}
