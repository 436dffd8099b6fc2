#include <iostream>
#include <vector>

void printAll(const std::vector<int>& v) {
    for (std::size_t i = 0; i < v.size(); ++i) {
        std::cout << (i == 0 ? "" : ", ") << v[i];
    }
    std::cout << std::endl;
}

int main() {
    std::vector<int> values = {9, 4, 7, 1, 8, 2};
    std::cout << "Before: ";
    printAll(values);
    for (std::size_t i = 1; i < values.size(); ++i) {
        int key = values[i];
        std::size_t j = i;
        while (j > 0 && values[j - 1] > key) {
            values[j] = values[j - 1];
            --j;
        }
        values[j] = key;
    }
    std::cout << "After: ";
    printAll(values);
    return 0;
}
