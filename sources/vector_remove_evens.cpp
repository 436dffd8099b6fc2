#include <algorithm>
#include <iostream>
#include <vector>

int main() {
    std::vector<int> numbers;
    for (int i = 1; i <= 12; ++i) {
        numbers.push_back(i);
    }
    std::size_t before = numbers.size();
    numbers.erase(std::remove_if(numbers.begin(), numbers.end(),
                                 [](int n) { return n % 2 == 0; }),
                  numbers.end());
    std::cout << "Removed " << before - numbers.size() << " even numbers" << std::endl;
    std::cout << "Remaining:";
    for (int n : numbers) {
        std::cout << " " << n;
    }
    std::cout << std::endl;
    return 0;
}
