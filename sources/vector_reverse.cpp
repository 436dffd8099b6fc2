#include <vector>
#include <iostream>

void printVector(const char* label, const std::vector<int>& v) {
    std::cout << label << ":";
    for (int value : v) {
        std::cout << " " << value;
    }
    std::cout << std::endl;
}

int main() {
    std::vector<int> numbers;
    for (int i = 1; i <= 6; ++i) {
        numbers.push_back(i * 10);
    }
    printVector("Original", numbers);
    std::size_t left = 0;
    std::size_t right = numbers.size() - 1;
    while (left < right) {
        int temp = numbers[left];
        numbers[left] = numbers[right];
        numbers[right] = temp;
        ++left;
        --right;
    }
    printVector("Reversed", numbers);
    return 0;
}
