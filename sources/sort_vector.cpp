#include <iostream>
#include <vector>
#include <algorithm>

int main() {
    std::vector<int> numbers = {3, 2, 5, 1, 4};
    std::sort(numbers.begin(), numbers.end());
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        if (i > 0) {
            std::cout << " ";
        }
        std::cout << numbers[i];
    }
    std::cout << std::endl;
    return 0;
}
