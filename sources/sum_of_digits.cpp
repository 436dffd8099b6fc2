#include <iostream>

int digitSum(int n) {
    int sum = 0;
    while (n > 0) {
        sum += n % 10;
        n /= 10;
    }
    return sum;
}

int reverseDigits(int n) {
    int reversed = 0;
    while (n > 0) {
        reversed = reversed * 10 + n % 10;
        n /= 10;
    }
    return reversed;
}

int main() {
    int number = 98765;
    std::cout << "Number: " << number << std::endl;
    std::cout << "Sum of digits: " << digitSum(number) << std::endl;
    std::cout << "Reversed: " << reverseDigits(number) << std::endl;
    return 0;
}
